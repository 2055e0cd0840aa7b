; CallCue (坐席助手) Windows installer: per-machine, Start-menu entry, optional autostart, uninstaller.
;
; Build (installer/build.py nsis does this; CI: .github/workflows/windows-installer.yml):
;   makensis -INPUTCHARSET UTF8 -DVERSION=0.1.0 -DVERSION_NUMERIC=0.1.0.0 -DPAYLOAD=dist\callcue
;            -DOUTFILE=dist\CallCue-0.1.0-setup.exe -DCONFIG_TEMPLATE=installer\config.toml installer\windows\callcue.nsi
;   (-DFAST: store without compression, for compile checks)
;
; Silent install for IT (docs/deployment.md), all parameters optional:
;   CallCue-0.1.0-setup.exe /S /SERVER=https://analytics.example.com /BRIDGEPORT=47615
;       /ORIGINS=https://crm.example.com,https://wfm.example.com /BRIDGETOKEN=<16-256 chars> /AUTOSTART=1
;       [/D=C:\Program Files\CallCue]   (/D must come last)
; Any of /SERVER /BRIDGEPORT /ORIGINS /BRIDGETOKEN writes %ProgramData%\CallCue\config.toml (an existing one
; is kept as config.toml.bak); without them an existing file is left alone and a missing one gets the
; commented template. Exit codes: 0 installed, 2 a parameter is invalid (nothing installed).
; Silent uninstall: "%ProgramFiles%\CallCue\uninstall.exe" /S  (keeps %ProgramData%\CallCue and user data).

Unicode true
ManifestDPIAware true
RequestExecutionLevel admin

!ifndef VERSION
  !error "pass -DVERSION=x.y.z"
!endif
!ifndef VERSION_NUMERIC
  !define VERSION_NUMERIC "0.0.0.0"
!endif
!ifndef PAYLOAD
  !error "pass -DPAYLOAD=<the PyInstaller bundle folder, dist\callcue>"
!endif
!ifndef CONFIG_TEMPLATE
  !define CONFIG_TEMPLATE "..\config.toml"
!endif
!ifndef OUTFILE
  !define OUTFILE "CallCue-${VERSION}-setup.exe"
!endif

!ifdef FAST
  SetCompress off
!else
  SetCompressor /SOLID lzma
!endif

!define APP "CallCue"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\CallCue"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"

Name "CallCue ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\CallCue"
InstallDirRegKey HKLM "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "CallCue ${VERSION}"

VIProductVersion "${VERSION_NUMERIC}"
VIAddVersionKey /LANG=1033 "ProductName" "CallCue"
VIAddVersionKey /LANG=1033 "FileDescription" "CallCue agent assistant installer"
VIAddVersionKey /LANG=1033 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1033 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=1033 "LegalCopyright" "CallCue"

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "Sections.nsh"
!include "x64.nsh"

!define MUI_ABORTWARNING
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
; No "run CallCue now" box: it would start the panel elevated, as the installer runs. Agents start it
; from the Start menu (or at login with /AUTOSTART=1).
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "SimpChinese"
!insertmacro MUI_LANGUAGE "English"

Var Server
Var BridgePort
Var Origins
Var BridgeToken
Var Autostart
Var WriteConfig

; ------------------------------------------------------------------------------ helpers


; $R9: the message. Silent installs end with exit code 2; interactive ones show the message first.
Function Fail
  MessageBox MB_ICONSTOP "$R9" /SD IDOK
  SetErrorLevel 2
  Quit
FunctionEnd

; A value written into the TOML file must not contain a double quote or a backslash.
Function RejectQuotes
  Exch $0
  Push $1
  Push $2
  StrLen $2 $0
  ${ForEach} $1 0 $2 + 1
    StrCpy $3 $0 1 $1
    ${If} $3 == '"'
    ${OrIf} $3 == "\"
      StrCpy $R9 "The value '$0' contains a quote or a backslash: not allowed in CallCue parameters. / 参数中不能包含引号或反斜杠。"
      Call Fail
    ${EndIf}
  ${Next}
  Pop $2
  Pop $1
  Pop $0
FunctionEnd

; "a,b" -> "\"a\", \"b\"" (the inside of a TOML array of strings); result in $R8.
Function OriginsToToml
  StrCpy $R8 ""
  StrCpy $R7 ""
  StrLen $R6 $Origins
  StrCpy $R5 0
  ${While} $R5 < $R6
    StrCpy $R4 $Origins 1 $R5
    ${If} $R4 == ","
      ${If} $R7 != ""
        ${If} $R8 != ""
          StrCpy $R8 '$R8, '
        ${EndIf}
        StrCpy $R8 '$R8"$R7"'
      ${EndIf}
      StrCpy $R7 ""
    ${ElseIf} $R4 != " "
      StrCpy $R7 "$R7$R4"
    ${EndIf}
    IntOp $R5 $R5 + 1
  ${EndWhile}
  ${If} $R7 != ""
    ${If} $R8 != ""
      StrCpy $R8 '$R8, '
    ${EndIf}
    StrCpy $R8 '$R8"$R7"'
  ${EndIf}
FunctionEnd

; ------------------------------------------------------------------------------ sections

Section "CallCue" SecMain
  SectionIn RO
  SetRegView 64
  SetShellVarContext all
  SetOutPath "$INSTDIR"
  ; An upgrade replaces the program files; agents' data (%LOCALAPPDATA%\CallCue) is never touched.
  RMDir /r "$INSTDIR\_internal"
  File /r "${PAYLOAD}/*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS\CallCue"
  CreateShortcut "$SMPROGRAMS\CallCue\CallCue 坐席助手.lnk" "$INSTDIR\callcue.exe"
  CreateShortcut "$SMPROGRAMS\CallCue\Uninstall CallCue.lnk" "$INSTDIR\uninstall.exe"

  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "CallCue 坐席助手"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "CallCue"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\callcue.exe"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" $0
SectionEnd

Section "-Machine settings" SecConfig
  SetShellVarContext all
  ; With the "all users" context $APPDATA is %ProgramData%.
  CreateDirectory "$APPDATA\CallCue"
  ${If} $WriteConfig == "1"
    ${If} ${FileExists} "$APPDATA\CallCue\config.toml"
      CopyFiles /SILENT "$APPDATA\CallCue\config.toml" "$APPDATA\CallCue\config.toml.bak"
    ${EndIf}
    FileOpen $0 "$APPDATA\CallCue\config.toml" w
    FileWrite $0 "# CallCue machine-wide settings, written by the installer (CallCue ${VERSION}).$\r$\n"
    FileWrite $0 "# Keys and meanings: docs/deployment.md. Later layers (user file, environment) may override.$\r$\n"
    FileWrite $0 "schema_version = 1$\r$\n"
    ${If} $Server != ""
      FileWrite $0 '$\r$\n[server]$\r$\nurl = "$Server"$\r$\n'
    ${EndIf}
    ${If} $BridgePort != ""
    ${OrIf} $Origins != ""
    ${OrIf} $BridgeToken != ""
      FileWrite $0 "$\r$\n[bridge]$\r$\n"
      ${If} $BridgePort != ""
        FileWrite $0 "port = $BridgePort$\r$\n"
      ${EndIf}
      ${If} $Origins != ""
        Call OriginsToToml
        FileWrite $0 "allowed_origins = [$R8]$\r$\n"
      ${EndIf}
      ${If} $BridgeToken != ""
        FileWrite $0 'token = "$BridgeToken"$\r$\n'
      ${EndIf}
    ${EndIf}
    FileClose $0
  ${ElseIfNot} ${FileExists} "$APPDATA\CallCue\config.toml"
    SetOutPath "$APPDATA\CallCue"
    File "/oname=config.toml" "${CONFIG_TEMPLATE}"
  ${EndIf}
SectionEnd

Section /o "Start CallCue at login (all users) / 开机自动启动" SecAutostart
  SetRegView 64
  WriteRegStr HKLM "${RUN_KEY}" "CallCue" '"$INSTDIR\callcue.exe"'
SectionEnd

; ------------------------------------------------------------------------------ parameters (after the
; sections: .onInit selects SecAutostart for /AUTOSTART=1)

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "CallCue needs 64-bit Windows. / 坐席助手需要 64 位 Windows。" /SD IDOK
    SetErrorLevel 2
    Abort
  ${EndIf}
  SetRegView 64
  SetShellVarContext all
  StrCpy $WriteConfig "0"
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/SERVER=" $Server
  ${IfNot} ${Errors}
    StrCpy $WriteConfig "1"
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/BRIDGEPORT=" $BridgePort
  ${IfNot} ${Errors}
    StrCpy $WriteConfig "1"
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/ORIGINS=" $Origins
  ${IfNot} ${Errors}
    StrCpy $WriteConfig "1"
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/BRIDGETOKEN=" $BridgeToken
  ${IfNot} ${Errors}
    StrCpy $WriteConfig "1"
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/AUTOSTART=" $Autostart
  ${If} $Autostart == "1"
    !insertmacro SelectSection ${SecAutostart}
  ${EndIf}

  ; Refuse bad values before anything is installed: the panel would refuse them at start anyway.
  Push $Server
  Call RejectQuotes
  Push $Origins
  Call RejectQuotes
  Push $BridgeToken
  Call RejectQuotes
  ${If} $Server != ""
    StrCpy $R1 $Server 8
    StrCpy $R2 $Server 7
    ${If} $R1 != "https://"
    ${AndIf} $R2 != "http://"
      StrCpy $R9 "/SERVER must be an http:// or https:// URL, got '$Server'. / /SERVER 必须是 http:// 或 https:// 开头的地址。"
      Call Fail
    ${EndIf}
  ${EndIf}
  ${If} $BridgePort != ""
    IntOp $R1 $BridgePort + 0
    ${If} "$R1" != "$BridgePort"
    ${OrIf} $R1 < 0
    ${OrIf} $R1 > 65535
      StrCpy $R9 "/BRIDGEPORT must be a whole number from 0 (off) to 65535, got '$BridgePort'. / /BRIDGEPORT 必须是 0 到 65535 的整数。"
      Call Fail
    ${EndIf}
  ${EndIf}
  ${If} $BridgeToken != ""
    StrLen $R1 $BridgeToken
    ${If} $R1 < 16
    ${OrIf} $R1 > 256
      StrCpy $R9 "/BRIDGETOKEN must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ + -. / /BRIDGETOKEN 必须是 16 到 256 个字符。"
      Call Fail
    ${EndIf}
  ${EndIf}
FunctionEnd

; ------------------------------------------------------------------------------ uninstaller

Function un.onInit
  SetRegView 64
  SetShellVarContext all
FunctionEnd

Section "Uninstall"
  SetRegView 64
  SetShellVarContext all
  DeleteRegValue HKLM "${RUN_KEY}" "CallCue"
  Delete "$SMPROGRAMS\CallCue\CallCue 坐席助手.lnk"
  Delete "$SMPROGRAMS\CallCue\Uninstall CallCue.lnk"
  RMDir "$SMPROGRAMS\CallCue"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\callcue.exe"
  Delete "$INSTDIR\callcue-cli.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"
  ; Kept on purpose: %ProgramData%\CallCue\config.toml (IT's settings) and each agent's
  ; %LOCALAPPDATA%\CallCue (local store with any unsynced outcomes, logs, bridge token).
SectionEnd
